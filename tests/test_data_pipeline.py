"""training/data/pipeline.py: deterministic, replayable training pipelines, shapes, dtypes and labels, evaluation
order, epochs as permutations, repeated augmentation and batch counts."""

import numpy as np
import pytest
import tensorflow as tf

from tests.data_helpers import indexed, synthetic
from tests.data_helpers import no_user_data  # noqa: F401 (an autouse fixture)
from training import data


FULL_AUGMENT = {"random_crop": 2, "horizontal_flip": True, "randaugment": {"magnitude": 9, "magnitude_std": 0.5},
                "mixup_alpha": 0.2, "cutmix_alpha": 1.0, "repeated_augmentation": 2, "random_erasing": True}


@pytest.mark.parametrize("augment", [None, FULL_AUGMENT], ids=["plain", "full"])
def test_training_pipeline_is_deterministic(augment):
    splits, info = synthetic()
    make = lambda seed: data.make_pipeline(splits["train"], info, batch_size=8, training=True,
                                           seed=seed, augment=augment)
    epochs = lambda dataset: [np.concatenate([x.numpy() for x, _ in dataset]) for _ in range(2)]
    (epoch1, epoch2), (replay1, replay2) = epochs(make(0)), epochs(make(0))
    np.testing.assert_array_equal(epoch1, replay1)
    np.testing.assert_array_equal(epoch2, replay2)
    assert not np.array_equal(epoch1, epoch2)  # a new epoch reshuffles (and re-augments)
    other_seed = next(iter(make(1)))[0].numpy()
    assert not np.array_equal(other_seed, epoch1[:8])


def test_repeated_stream_replays_identically():
    splits, info = synthetic()
    augment = {"random_crop": 2, "horizontal_flip": True, "mixup_alpha": 0.2, "repeated_augmentation": 2}
    runs = []
    for _ in range(2):
        dataset = data.make_pipeline(splits["train"], info, batch_size=8, training=True, seed=5, repeat=True,
                                     augment=augment)
        runs.append([(x.numpy(), y.numpy()) for x, y in dataset.take(12)])  # 2.4 epochs of 5 batches
    for (x1, y1), (x2, y2) in zip(*runs):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_pipeline_shapes_dtypes_and_labels():
    splits, info = synthetic(shape=(8, 8, 1))
    x, y = next(iter(data.make_pipeline(splits["train"], info, batch_size=8, training=True, seed=0)))
    assert x.shape == (8, 8, 8, 1) and x.dtype == tf.float32
    assert y.shape == (8, 4) and y.dtype == tf.float32
    np.testing.assert_array_equal(y.numpy().sum(1), np.ones(8))
    x, y = next(iter(data.make_pipeline(splits["train"], info, batch_size=8, training=False, seed=0,
                                        one_hot=False, channels=3, image_size=12)))
    assert x.shape == (8, 12, 12, 3) and y.dtype == tf.int32
    np.testing.assert_array_equal(y.numpy(), splits["train"][1][:8])
    train = data.make_pipeline(splits["train"], info, batch_size=16, training=True, seed=0)
    assert len(list(train)) == data.steps_per_epoch(info, "train", 16, drop_remainder=True) == 2
    evaluation = data.make_pipeline(splits["train"], info, batch_size=16, training=False, seed=0)
    assert len(list(evaluation)) == data.steps_per_epoch(info, "train", 16, drop_remainder=False) == 3


def test_eval_pipeline_covers_every_example_once_in_order():
    source, info = indexed(37)
    for _ in range(2):
        dataset = data.make_pipeline(source, info, batch_size=8, training=False, seed=0, augment=FULL_AUGMENT)
        batches = list(dataset)
        assert [len(y) for _, y in batches] == [8, 8, 8, 8, 5]
        images = np.concatenate([x.numpy() for x, _ in batches])
        np.testing.assert_array_equal(images, source[0].astype(np.float32))


def test_training_epoch_is_a_permutation():
    source, info = indexed(37)
    dataset = data.make_pipeline(source, info, batch_size=8, training=True, seed=0, drop_remainder=False)
    ids = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in dataset]).astype(int)
    assert sorted(ids) == list(range(37)) and list(ids) != list(range(37))


def test_repeated_augmentation_keeps_epoch_length():
    source, info = indexed(30)
    dataset = data.make_pipeline(source, info, batch_size=10, training=True, seed=0,
                                 augment={"repeated_augmentation": 3})
    assert dataset.cardinality().numpy() == 3
    ids = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in dataset]).astype(int)
    assert len(ids) == 30
    assert sorted(np.bincount(ids)[np.bincount(ids) > 0]) == [3] * 10  # 10 images, each 3 times

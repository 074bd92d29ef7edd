"""Tiny configurations of every family: same code paths as the real variants, seconds to run on a CPU.

Shared by the TensorFlow tests and the JAX subprocess (tests/backend_check.py).
"""

# label -> (registered name, architecture overrides, input shape)
TINY = {
    "resnet_basic": ("resnet18", dict(stage_depths=(1, 1, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8), (32, 32, 3)),
    "resnet_bottleneck_keras": (
        "resnet50",
        dict(stage_depths=(1, 2, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8),
        (32, 32, 3),
    ),
    "resnet_d_drop_path": (
        "resnet50d",
        dict(stage_depths=(1, 2, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8, drop_path_rate=0.2),
        (33, 35, 3),
    ),
    "resnet_se": ("seresnet50", dict(stage_depths=(1, 1, 1, 1), stage_widths=(8, 8, 16, 16), stem_width=8),
                  (32, 32, 3)),
    "resnet_eca_preact": ("preact_resnet164", dict(stage_depths=(1, 1, 1), stage_widths=(4, 4, 8), stem_width=4,
                                                   attn_layer="eca"), (16, 16, 3)),
    "resnet_blur_dilated_drop_block": (
        "resnetblur50",
        dict(stage_depths=(1, 1, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8, output_stride=16,
             drop_block_rate=0.2),
        (32, 32, 3),
    ),
    "resnet_aa_group_norm": (
        "resnetaa50d",
        dict(stage_depths=(1, 1, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8, norm_layer="group", norm_groups=4),
        (32, 32, 3),
    ),
    "resnet_rs": ("resnetrs50", dict(stage_depths=(1, 1, 1, 1), stage_widths=(8, 8, 16, 16), stem_width=8),
                  (32, 32, 3)),
    "resnext": (
        "resnext50_32x4d",
        dict(stage_depths=(1, 1, 1, 1), stage_widths=(8, 8, 8, 8), groups=4, width_per_group=8, stem_width=8),
        (32, 32, 3),
    ),
    "cifar_resnet_option_a": (
        "resnet20",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 8, 16), stem_width=4),
        (16, 16, 3),
    ),
    "cifar_resnet_option_b": (  # padding="same": the jax_path benchmark's plain-Keras twin
        "resnet20",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 8, 16), stem_width=4, shortcut="projection", padding="same"),
        (16, 16, 3),
    ),
    "cifar_plain": ("plain20", dict(stage_depths=(1, 1, 1), stage_widths=(4, 8, 16), stem_width=4), (16, 16, 1)),
    "cifar_preact": (
        "preact_resnet164",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 4, 8), stem_width=4),
        (16, 16, 3),
    ),
    "cifar_resnext": (
        "resnext29_8x64d",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 4, 8), stem_width=8, groups=2, width_per_group=16),
        (16, 16, 4),
    ),
    "wide_resnet_cifar": (
        "wrn16_4",
        dict(stage_depths=(1, 1, 1), stage_widths=(8, 8, 16), stem_width=4, dropout_rate=0.3),
        (16, 16, 3),
    ),
    "resnet_v2": ("resnet50_v2", dict(stage_depths=(2, 2, 2, 2), stage_widths=(4, 4, 8, 8)), (32, 32, 3)),
    "densenet": ("densenet121", dict(block_depths=(1, 2, 1, 1), growth_rate=4, stem_width=8), (32, 32, 3)),
    "densenet_memory_efficient": (
        "densenet121",
        dict(block_depths=(1, 2, 1, 1), growth_rate=4, stem_width=8, memory_efficient=True),
        (32, 32, 3),
    ),
    "densenet_bc_cifar": ("densenet_bc_100_12", dict(block_depths=(2, 2, 2), growth_rate=4, stem_width=8), (16, 16, 3)),
    "attention_imagenet": ("attention56", dict(stage_widths=(8, 16, 16, 32), stem_width=8), (64, 64, 3)),
    "attention_cifar": (
        "attention92_cifar",
        dict(stage_widths=(8, 16, 16), stem_width=4, stage_modules=(1, 1, 1)),
        (16, 16, 3),
    ),
}
CLASSES = 5


def build(label, **kwargs):
    import keras_resnets

    name, overrides, shape = TINY[label]
    return keras_resnets.create_model(name, input_shape=shape, classes=CLASSES, **{**overrides, **kwargs})

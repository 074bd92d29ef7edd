"""The keras_resnets training application: `python -m training CONFIG [options]`."""

import os

# TensorFlow 2.21 on x86 CPUs without AVX-512 (seen on an AMD EPYC with AVX2) trains about 1.6x slower
# unless TF_ENABLE_ONEDNN_OPTS=1 is set explicitly, even though it logs that oneDNN is on (README,
# Performance: CIFAR ResNet-20, batch 128, 2 cores). TensorFlow reads it once, when it is imported, so it
# is set here, before anything imports TensorFlow; a value the user set (0 turns it off) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

"""The keras_resnets training application: `python -m training CONFIG [options]`."""

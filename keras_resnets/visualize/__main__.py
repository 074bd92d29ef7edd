"""`python -m keras_resnets.visualize`: runs the visualization command line (`keras_resnets.visualize.cli`)."""

import sys

from keras_resnets.visualize.cli import run

if __name__ == "__main__":
    sys.exit(run())

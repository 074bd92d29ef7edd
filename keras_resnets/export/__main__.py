"""`python -m keras_resnets.export`: runs the export command line (`keras_resnets.export.cli`)."""

import sys

from keras_resnets.export.cli import run

if __name__ == "__main__":
    sys.exit(run())

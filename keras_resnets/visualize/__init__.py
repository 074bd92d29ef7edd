"""Seeing what a residual network learned: feature maps, Grad-CAM, residual refinement, receptive fields,
lesions and attention masks, as numbers (numpy) and as PNG figures.

Every tool takes any registered model (`keras_resnets.create_model(...)`) or a loaded `.keras` file and raw
images in the model's input layout. The analysis functions return numpy arrays or lists of dicts and need
only Keras; the `plot_*` functions draw them with matplotlib (`pip install "keras-resnets[viz]"`).

How blocks are found: the families name every residual or plain block `<stage>_block<i>` and its output
layer `<stage>_block<i>_out` (keras.applications' convention). A residual block merges with an `Add` layer
(`..._add` followed by a ReLU in ResNet v1, `..._out` in the pre-activation forms) whose first input is the
shortcut and second the residual branch F(x). Units inside the soft-mask branch of an attention module
(`..._mask_...`) are not on the main path and are left out. DenseNets concatenate instead of adding, so the
block tools (refinement, lesion) reject them; feature maps, Grad-CAM and receptive fields work on every model.

Definitions:
- Refinement ratio of a block: mean over images of ||F(x)|| / ||x||, the residual branch against the shortcut
  (for a plain block, ||out - in|| / ||in|| where the shapes match). Cosine: mean cosine similarity of the
  block's input and output (the shortcut stands in for the input where a block changes the shape).
- Effective receptive field of a layer (Luo et al. 2016): mean over images of |d(centre unit, summed over
  channels) / d(input pixels)|, summed over input channels and normalized to sum 1; its radius is the
  half-width of the smallest square around the centre holding 90 % of that mass.
- Lesion (Veit et al. 2016): the block's residual branch is deleted at test time, leaving its shortcut (the
  identity, or the down-sampling shortcut); a plain block is replaced by the identity where its input and
  output shapes match.

Command line: `python -m keras_resnets.visualize TOOL MODEL --out PNG [--json JSON]` (`--help` lists the rest).
Before any model is loaded it checks the outputs (a `.png` --out; neither output an existing folder or a
symbolic link, nor an existing file unless `--overwrite`; missing parent folders are created, as for the
export's directory, so the nearest existing one must take new files), every number against its range
(`--count` >= 1, `--class-index` >= 0, `--classes` >= 1), the options' fit to the tool, the input files
(present; a corrupt `.npy`, IDX file or image is an error naming it) and that labels are as many as the
images; once the model is loaded, `--class-index` and the labels against its classes. Both files are written
atomically (a unique temporary file beside each, renamed into place). Exit codes: 0 the figure (and the JSON)
are written; 1 the work failed (e.g. matplotlib is missing); 2 a usage error (a bad argument value, a tool that
does not apply to the model, a missing, corrupt or wrong-format input, images and labels of different lengths,
an output that cannot be written or exists without `--overwrite`); argparse's own errors exit 2 too. Errors
are one line on stderr (`error: ...`), never a traceback.

The package: `probe` (checking a model and its images, running parts of it, finding its blocks), `analysis`
(the numbers of each tool), `plots` (their figures), `cli` (the command line; `__main__` runs it), and the
input files read with the export tool, in `keras_resnets.tool_io`. matplotlib is imported when the first
figure is drawn, never on import.
"""

from keras_resnets import tool_io
from keras_resnets.visualize.analysis import (
    CAM_METHODS,
    attention_masks,
    effective_receptive_field,
    feature_maps,
    grad_cam,
    lesion,
    lesion_study,
    refinement_statistics,
)
from keras_resnets.visualize.cli import TOOLS, build_parser, data_file, main, run
from keras_resnets.visualize.plots import (
    new_figure,
    plot_attention_masks,
    plot_feature_maps,
    plot_grad_cam,
    plot_lesions,
    plot_receptive_fields,
    plot_refinement,
    save_png,
)
from keras_resnets.visualize.probe import Block, find_blocks, stage_outputs

# The names these helpers had when visualize was one module, kept for the callers that use them.
_cli, _data_file, _figure, _save = run, data_file, new_figure, save_png
_write_atomically = tool_io.write_atomically

__all__ = [
    "CAM_METHODS",
    "TOOLS",
    "Block",
    "attention_masks",
    "build_parser",
    "effective_receptive_field",
    "feature_maps",
    "find_blocks",
    "grad_cam",
    "lesion",
    "lesion_study",
    "main",
    "plot_attention_masks",
    "plot_feature_maps",
    "plot_grad_cam",
    "plot_lesions",
    "plot_receptive_fields",
    "plot_refinement",
    "refinement_statistics",
    "stage_outputs",
]

"""Tools apart from models: the zoo imports without the tools' optional dependencies, the library holds no dataset
path and never imports training/, and the tool packages keep their command lines and public names."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("matplotlib", "onnx", "tf2onnx", "onnxruntime", "ai_edge_litert")

# Run in a fresh interpreter: records which file asked for each optional module first, then imports `MODULES`.
_PROBE = """
import os, sys
BLOCK = {block!r}
OPTIONAL = {optional!r}
asked = {{}}

class Recorder:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in OPTIONAL and top not in asked:
            frame = sys._getframe(1)
            while frame and frame.f_code.co_filename.startswith("<frozen"):
                frame = frame.f_back
            asked[top] = frame.f_code.co_filename if frame else "?"
        if BLOCK and top in OPTIONAL:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Recorder())
for module in {modules!r}:
    __import__(module)
print(repr(({{m: f for m, f in asked.items()}}, sorted(m for m in OPTIONAL if m in sys.modules),
            "training" in sys.modules)))
"""


def _probe(modules, block):
    code = _PROBE.format(block=block, optional=OPTIONAL, modules=modules)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    return eval(done.stdout.strip().splitlines()[-1])  # noqa: S307  (our own repr)


@pytest.mark.parametrize("modules", [("keras_resnets",), ("keras_resnets", "keras_resnets.export",
                                                           "keras_resnets.visualize")], ids=["zoo", "tools"])
def test_the_zoo_and_the_tool_packages_import_without_the_optional_dependencies(modules):
    """With matplotlib, onnx, tf2onnx, onnxruntime and ai_edge_litert made unimportable, `import keras_resnets`
    (and the export and visualize packages) works and none of them is in sys.modules."""
    asked, loaded, imported_training = _probe(modules, block=True)
    assert loaded == []
    package = str(ROOT / "keras_resnets")
    assert not {m: f for m, f in asked.items() if f.startswith(package)}, asked
    assert not imported_training  # the library never imports training/


def test_importing_the_tools_loads_none_of_the_export_runtimes():
    """Installed as they are here: onnx, tf2onnx, onnxruntime and ai_edge_litert are not loaded at all, and
    matplotlib only by Keras itself (keras.src.visualization imports it where it is installed; the blocked run
    above shows that keras_resnets does not)."""
    asked, loaded, imported_training = _probe(("keras_resnets", "keras_resnets.export", "keras_resnets.visualize"),
                                              block=False)
    package = str(ROOT / "keras_resnets")
    assert not {m: f for m, f in asked.items() if f.startswith(package)}, asked
    assert set(loaded) <= {"matplotlib"} and not imported_training, (loaded, asked)


def test_the_library_holds_no_dataset_path():
    """Default data locations come from the training app's data sources (training/data), never the library."""
    holders = [str(path.relative_to(ROOT)) for path in (ROOT / "keras_resnets").rglob("*.py")
               if "/usr/share/datasets" in path.read_text()]
    assert holders == []


def test_the_tool_modules_stay_small():
    """Each module of the tool packages and their shared files is under about 600 lines."""
    files = [*(ROOT / "keras_resnets" / "export").glob("*.py"), *(ROOT / "keras_resnets" / "visualize").glob("*.py"),
             ROOT / "keras_resnets" / "tool_io.py", ROOT / "keras_resnets" / "tool_cli.py"]
    sizes = {path.name: len(path.read_text().splitlines()) for path in files}
    assert max(sizes.values()) <= 600, sizes


def test_the_tools_keep_their_names():
    """`from keras_resnets import export / visualize` gives every name callers use, one object per name."""
    from keras_resnets import export, tool_io, visualize
    from keras_resnets.export import cli as export_cli
    from keras_resnets.visualize import cli as visualize_cli

    for name in ("FORMATS", "TARGETS", "ExportError", "LiteRTRunner", "export_keras", "export_model",
                 "non_finite_weights", "random_images", "run_saved_model", "benchmark_tflite", "format_report",
                 "load_keras_model", "load_images", "load_labels", "sha256", "with_preprocessing", "build_parser",
                 "main", "_cli"):
        assert hasattr(export, name), name
    assert export.load_keras_model is tool_io.load_keras_model and export._cli is export_cli.run
    for name in ("TOOLS", "CAM_METHODS", "find_blocks", "stage_outputs", "feature_maps", "grad_cam", "lesion",
                 "lesion_study", "refinement_statistics", "effective_receptive_field", "attention_masks",
                 "plot_feature_maps", "plot_grad_cam", "plot_refinement", "plot_receptive_fields", "plot_lesions",
                 "plot_attention_masks", "build_parser", "main", "_cli", "_data_file", "_figure", "_save",
                 "_write_atomically"):
        assert hasattr(visualize, name), name
    assert visualize._cli is visualize_cli.run and visualize._write_atomically is tool_io.write_atomically

"""The export directory: written atomically, and replaced only when it is an unchanged earlier export.

Everything goes into a temporary sibling directory renamed into place at the end, so a failed export (including
a missed verification target) leaves no directory behind. Nothing that an export did not write is deleted or
replaced: an existing directory is an error, and `overwrite` replaces only an export whose metadata.json lists
every file in it with its size and SHA-256 (`check_replaceable`), so a mistyped path can never delete a user's
folder.
"""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile

from keras_resnets.export.formats import ExportError
from keras_resnets.tool_io import METADATA_FILE, check_writable_parent


def sha256(path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(root) -> dict:
    """{relative path: {"bytes", "sha256"}} for every file under `root` except metadata.json."""
    entries = {}
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if rel != METADATA_FILE:
                entries[rel] = {"bytes": os.path.getsize(path), "sha256": sha256(path)}
    return dict(sorted(entries.items()))


def _listed_files(out_dir):
    """The `files` table of `out_dir/metadata.json`, or None when there is none to read."""
    try:
        with open(os.path.join(out_dir, METADATA_FILE)) as f:
            listed = json.load(f).get("files")
    except (OSError, ValueError, AttributeError):
        return None
    return listed if isinstance(listed, dict) else None


def _found_files(out_dir, refuse):
    """{relative path: path} of every file under `out_dir` but metadata.json; a symbolic link is refused."""
    found = {}
    for dirpath, dirnames, names in os.walk(out_dir):
        for name in dirnames + names:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                refuse(f"it holds a symbolic link ({os.path.relpath(path, out_dir)})")
        for name in names:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, out_dir).replace(os.sep, "/")] = path
    found.pop(METADATA_FILE, None)
    return found


def check_replaceable(out_dir):
    """Raises unless `out_dir` is an export written by this package (`export_keras` / `export_model`) and left
    unchanged since: a real directory whose metadata.json lists every file in it with its size and SHA-256.

    `overwrite=True` replaces only such a directory, so a mistyped path can never delete a user's folder."""
    out_dir = os.fspath(out_dir)

    def refuse(reason):
        raise FileExistsError(f"Refusing to replace {out_dir}: {reason}. Only an unchanged export written by "
                              "keras_resnets is replaced; choose another directory or remove this one yourself.")

    if os.path.islink(out_dir) or not os.path.isdir(out_dir):
        refuse("it is a symbolic link" if os.path.islink(out_dir) else "it is not a directory")
    listed = _listed_files(out_dir)
    if listed is None:
        refuse("it has no metadata.json listing its files (it is not an export)")
    found = _found_files(out_dir, refuse)
    extra, missing = sorted(set(found) - set(listed)), sorted(set(listed) - set(found))
    if extra or missing:
        refuse(f"its files differ from its metadata.json (not listed: {extra[:5]}, missing: {missing[:5]})")
    for rel, path in found.items():
        entry = listed[rel] if isinstance(listed[rel], dict) else {}
        if os.path.getsize(path) != entry.get("bytes") or sha256(path) != entry.get("sha256"):
            refuse(f"{rel} changed since it was exported")


def _check_existing(out_dir, overwrite):
    """An existing `out_dir` is an error, unless `overwrite` and it is an unchanged earlier export."""
    if os.path.lexists(out_dir):
        if not overwrite:
            raise FileExistsError(f"Export directory exists: {out_dir}. Pass overwrite=True (--overwrite) to "
                                  "replace an earlier export, or choose another directory.")
        check_replaceable(out_dir)


def check_output_dir(out_dir, overwrite):
    """The absolute `out_dir` of an export, checked before any work: new with a writable parent, or with
    `overwrite` an unchanged earlier export (`check_replaceable`)."""
    path = os.path.abspath(os.fspath(out_dir))
    _check_existing(path, overwrite)
    check_writable_parent(path, "The output directory")
    return path


@contextlib.contextmanager
def atomic_dir(out_dir, overwrite):
    """Yields a temporary sibling of `out_dir` that becomes `out_dir` only when the block completes.

    Nothing that this process did not write is ever deleted or replaced: an existing `out_dir` is an error,
    and with `overwrite` only an unchanged earlier export (`check_replaceable`) is replaced. The old export is
    moved into a temporary folder of this process and deleted from there once the new one is in place."""
    out_dir = os.path.abspath(os.fspath(out_dir))
    _check_existing(out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    except OSError as err:
        raise ExportError(f"Cannot write the export directory {out_dir}: {err.strerror or err} "
                          f"({parent!r} must be a writable folder).") from err
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; the result is an ordinary directory
        _move_into_place(tmp, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # our own temporary directory
        raise


def _move_into_place(tmp, out_dir, overwrite):
    if not os.path.lexists(out_dir):
        # rename() would replace an empty directory created since the check above, never a non-empty one.
        os.rename(tmp, out_dir)
        return
    if not overwrite:
        raise FileExistsError(f"Export directory appeared while exporting: {out_dir}. Nothing was replaced.")
    check_replaceable(out_dir)  # again: it may have changed while this export ran
    previous = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=os.path.dirname(out_dir))
    moved = os.path.join(previous, "export")
    os.rename(out_dir, moved)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(moved, out_dir)
        os.rmdir(previous)
        raise
    shutil.rmtree(previous)  # the earlier export, checked to be ours and unchanged

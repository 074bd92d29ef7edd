"""Helpers for the hostile-input tests: a tree of a user's files to guard, and a byte-for-byte snapshot of it.

A test builds `user_tree(root)` (files, nested folders, a folder named like an export, a symbolic link to a
folder outside), runs a tool with hostile names and paths, and asserts `snapshot(root, skip) == before`:
every file outside the tool's own output (`skip`) is still there with the same bytes, and every link still
points where it did.
"""

import hashlib
import os


def user_tree(root):
    """A user's files under `root` (created), and a folder `outside` they link to. Returns `root`."""
    root = os.fspath(root)
    os.makedirs(os.path.join(root, "notes", "deep"), exist_ok=True)
    os.makedirs(os.path.join(root, "outside"), exist_ok=True)
    files = {
        "README.md": "my project\n",
        "notes/todo.txt": "buy milk\n",
        "notes/deep/data.bin": bytes(range(256)) * 4,
        "outside/precious.txt": "do not delete\n",
        "empty_model.keras": b"",
    }
    for rel, content in files.items():
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(os.path.join(root, rel), mode) as f:
            f.write(content)
    os.symlink(os.path.join(root, "outside"), os.path.join(root, "link_to_outside"))
    return root


def snapshot(root, skip=()):
    """{relative path: sha256 of a file, "dir", or "link -> target"} for everything under `root`, not
    following links and leaving out the relative paths in `skip` (and everything under them)."""
    root = os.fspath(root)
    skip = tuple(os.path.normpath(s) for s in skip)

    def skipped(rel):
        return rel in skip or rel.startswith(tuple(s + os.sep for s in skip))

    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        kept = []
        for name in sorted(dirnames) + sorted(filenames):
            rel, path = os.path.normpath(os.path.join(rel_dir, name)), os.path.join(dirpath, name)
            if skipped(rel):
                continue
            if os.path.islink(path):
                found[rel] = "link -> " + os.readlink(path)
            elif os.path.isdir(path):
                found[rel] = "dir"
                kept.append(name)
            else:
                with open(path, "rb") as f:
                    found[rel] = hashlib.sha256(f.read()).hexdigest()
        dirnames[:] = kept
    return found

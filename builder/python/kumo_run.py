"""Kumo's runner for Python worker processes (`worker: python worker.py`).

A component has no Python files at run time: only what was imported while it
was built is in its memory. So the script is read and compiled now, every
module it names in an import is imported now, and `run` executes the
compiled script as `__main__` with the dyno's arguments in sys.argv.
"""

import ast
import importlib
import importlib.util
import os
import sys
import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import environment


def _imported(tree):
    """The absolute module names the script's import statements name, anywhere in it."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names


def runner(script=None, module=None):
    """The `Run` export for a script file, or for a module run as `python -m module`."""
    if module is not None:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise SystemExit(f"no module named {module}")
        path = spec.origin
    else:
        # The app's folder is on sys.path while the component is built (as /0).
        found = [os.path.join(d, script) for d in sys.path if os.path.isfile(os.path.join(d, script))]
        if not found:
            raise SystemExit(f"the app has no {script}")
        path = found[0]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source, path)
    for name in _imported(tree):
        try:
            importlib.import_module(name)
        except Exception:  # an attribute `from x import y`, or a module missing now and at run time
            pass
    shown = os.path.join("/app", script) if script else path
    code = compile(tree, shown, "exec")
    argv0 = script or module

    class Run(exports.Run):
        def run(self):
            sys.argv = [argv0, *environment.get_arguments()[1:]]
            # Each line reaches the logs when printed, as with Heroku's PYTHONUNBUFFERED.
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.reconfigure(line_buffering=True)
                except (AttributeError, ValueError):
                    pass
            scope = {"__name__": "__main__", "__file__": shown, "__builtins__": __builtins__}
            try:
                exec(code, scope)
            except SystemExit as e:
                if e.code is None or e.code == 0:
                    return
                if not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
                raise Err(None)
            except BaseException:
                traceback.print_exc()
                raise Err(None)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()

    return Run

"""The import graph of the models package has no cycle (issue #13: export and train used to
import each other, one of the imports hidden inside a function, so that
`python3 -m models.export` loaded export twice). Needs only the standard library (and numpy
for the fresh-interpreter check), so it runs where the training tests are skipped.

    python3 -m unittest discover -v -s models/tests -t .
"""
import ast
import importlib.util
import os
import subprocess
import sys
import unittest

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(PACKAGE)


def package_modules():
    return sorted(f[:-3] for f in os.listdir(PACKAGE) if f.endswith(".py") and f != "__init__.py")


def imports_of(module, modules):
    """The package modules `module` imports anywhere in its file (top level or inside a
    function): `from . import a, b`, `from .a import x`, `import models.a`, `from models import a`,
    `from models.a import x`."""
    with open(os.path.join(PACKAGE, module + ".py"), encoding="utf-8") as f:
        tree = ast.parse(f.read(), module + ".py")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.level == 0 and node.module and node.module.split(".")[0] == "models"):
                parts = (node.module or "").split(".")
                parts = parts[1:] if node.level == 0 else parts
                if parts and parts[0]:
                    found.add(parts[0])
                else:
                    found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "models" and len(parts) > 1:
                    found.add(parts[1])
    return found & set(modules)


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


class ImportGraph(unittest.TestCase):
    def setUp(self):
        modules = package_modules()
        self.graph = {m: imports_of(m, modules) for m in modules}

    def test_the_parser_sees_the_known_imports(self):
        # Guards the test itself: if imports_of stopped recognising imports, no cycle would show.
        self.assertIn("tasks", self.graph["export"])
        self.assertIn("evaluate", self.graph["export"])  # a function-level import
        self.assertTrue({"export", "tasks", "nets"} <= self.graph["train"])
        self.assertIsNone(find_cycle({"a": {"b"}, "b": set()}))
        self.assertEqual(find_cycle({"a": {"b"}, "b": {"a"}}), ["a", "b", "a"])

    def test_no_cycle(self):
        self.assertIsNone(find_cycle(self.graph), f"import cycle in models/: {self.graph}")

    def test_export_and_the_registry_do_not_import_train(self):
        self.assertNotIn("train", self.graph["export"])
        self.assertFalse({"train", "export"} & self.graph["tasks"])


@unittest.skipIf(importlib.util.find_spec("numpy") is None, "numpy not installed")
class FreshInterpreter(unittest.TestCase):
    def test_importing_export_does_not_load_train(self):
        # models.export needs no torch (torch is imported when a network is built or a
        # checkpoint loaded), so this runs without the training requirements.
        code = ("import sys, models.export\n"
                "loaded = sorted(m for m in sys.modules if m.startswith('models'))\n"
                "assert 'models.train' not in loaded, loaded\n"
                "assert 'torch' not in sys.modules, 'models.export imported torch'\n")
        run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)

    def test_export_help_runs_without_train(self):
        run = subprocess.run([sys.executable, "-m", "models.export", "--help"], cwd=ROOT,
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("checkpoints", run.stdout)


if __name__ == "__main__":
    unittest.main()

"""The installed package holds runtime code only: no test helpers, no toy classes, nothing
imported from the repository's ``tests`` or ``tools`` (neither ships with an install)."""
import ast
import json
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT, run_tool

PACKAGE = Path(REPO_ROOT) / 'virtualpose_mm'
REPO_ONLY = ('tests', 'tools')  # top-level packages of the repository, not installed


def _imported_modules(tree: ast.AST):
    """(line, absolute module name) of every import statement and every
    ``import_module('...')`` / ``__import__('...')`` call with a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, 'id', None)
            arg = node.args[0]
            if (name in ('import_module', '__import__') and isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)):
                yield node.lineno, arg.value


def test_package_does_not_import_tests_or_tools():
    bad = []
    for path in sorted(PACKAGE.rglob('*.py')):
        tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
        for line, module in _imported_modules(tree):
            if module.split('.')[0] in REPO_ONLY:
                bad.append(f'{path.relative_to(REPO_ROOT)}:{line}: {module}')
    assert not bad, 'the package imports repository-only code:\n' + '\n'.join(bad)


def test_no_testing_subpackage():
    assert not (PACKAGE / 'testing').exists(), (
        'virtualpose_mm/testing is back: golden checkers belong in tools/analysis/golden, '
        'test helpers and toy classes under tests/')


def test_import_registers_no_toy_classes():
    """A fresh interpreter, started in the repository root (so that ``tests`` and ``tools``
    *could* be imported): ``import virtualpose_mm`` imports neither and registers no
    ``Toy*`` class in MMPose's registries (or mmengine's roots above them)."""
    code = '''
import json, sys
import virtualpose_mm  # noqa: F401
from mmpose import registry as R
found = {}
for name in ('MODELS', 'DATASETS', 'METRICS', 'HOOKS'):
    reg, toys = getattr(R, name), []
    while reg is not None:
        toys += [k for k in reg.module_dict if k.startswith('Toy')]
        toys += [f'child scope {s}' for s in reg.children if s == 'vpmm_tests']
        reg = reg.parent
    found[name] = toys
repo_only = sorted(m for m in sys.modules if m.split('.')[0] in ('tests', 'tools'))
print(json.dumps(dict(found=found, repo_only=repo_only)))
'''
    out = run_tool([sys.executable, '-c', code], cwd=REPO_ROOT).stdout
    res = json.loads(out.strip().splitlines()[-1])
    assert res['found'] == dict(MODELS=[], DATASETS=[], METRICS=[], HOOKS=[]), res['found']
    assert res['repo_only'] == [], res['repo_only']


def test_toy_classes_live_in_the_test_scope():
    """The test fixtures register into ``vpmm_tests`` children of MMPose's registries;
    ``vpmm_tests.<Type>`` builds from the ``mmpose`` scope, the plain name does not."""
    from mmengine.registry import DefaultScope
    from mmpose import registry as R

    from tests.fixtures import toy
    for name in ('MODELS', 'DATASETS', 'METRICS', 'HOOKS'):
        parent = getattr(R, name)
        assert getattr(toy, name).parent is parent
        assert parent.children['vpmm_tests'] is getattr(toy, name)
        assert not [k for k in parent.module_dict if k.startswith('Toy')]
    assert R.MODELS.get('ToyPoseRegressor') is None
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = R.MODELS.build(dict(type='vpmm_tests.ToyPoseRegressor'))
        metric = R.METRICS.build(dict(type='vpmm_tests.ToyMPJPE'))
    assert type(model) is toy.ToyPoseRegressor and type(metric) is toy.ToyMPJPE

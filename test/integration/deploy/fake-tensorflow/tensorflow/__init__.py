"""A stand-in for the few TensorFlow calls deploy/models/export.py makes, so that the deploy tests
can run the export script's real control flow (staging, self-check, atomic placement, stamp) on a
machine without TensorFlow. It is put first on PYTHONPATH by test/integration/deploy/compose.test.ts.

saved_model.save writes saved_model.pb as JSON describing what TF Serving would see: each
signature's inputs (name, dtype, shape) and output keys, and the outputs for x = [1.0, 2.0, 5.0].
FAKE_TF_WRONG_ANSWER=1 makes loaded models answer wrongly, to test the script's self-check.
"""

import json
import os

__version__ = "0.0.0-fake"
float32 = "float32"

PROBE = [1.0, 2.0, 5.0]
_saved = {}


class Module:
    def __init__(self):
        pass


class Tensor:
    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self

    def tolist(self):
        return list(self.value) if isinstance(self.value, list) else self.value

    def _apply(self, other, op):
        a = self.value
        b = other.value if isinstance(other, Tensor) else other
        if isinstance(a, list) and isinstance(b, list):
            return Tensor([op(x, y) for x, y in zip(a, b)])
        if isinstance(a, list):
            return Tensor([op(x, b) for x in a])
        if isinstance(b, list):
            return Tensor([op(a, y) for y in b])
        return Tensor(op(a, b))

    def __mul__(self, other):
        return self._apply(other, lambda x, y: x * y)

    def __rmul__(self, other):
        return self._apply(other, lambda x, y: y * x)

    def __add__(self, other):
        return self._apply(other, lambda x, y: x + y)

    def __radd__(self, other):
        return self._apply(other, lambda x, y: y + x)


class Variable(Tensor):
    def __init__(self, value, dtype=None, name=None):
        super().__init__(float(value))
        self.dtype = dtype
        self.name = name


def constant(value, dtype=None):
    return Tensor([float(v) for v in value] if isinstance(value, (list, tuple)) else float(value))


class TensorSpec:
    def __init__(self, shape, dtype, name=None):
        self.shape = None if shape is None else list(shape)
        self.dtype = dtype
        self.name = name


class _Function:
    def __init__(self, fn, input_signature, owner=None):
        self.fn = fn
        self.input_signature = input_signature or []
        self.owner = owner

    def __get__(self, owner, cls=None):
        return self if owner is None else _Function(self.fn, self.input_signature, owner)

    def get_concrete_function(self):
        return self

    def __call__(self, *args, **kwargs):
        return self.fn(self.owner, *args, **kwargs)


def function(input_signature=None):
    return lambda fn: _Function(fn, input_signature)


class _Loaded:
    def __init__(self, signatures):
        self.signatures = signatures


class saved_model:  # noqa: N801 (the module's name in TensorFlow)
    @staticmethod
    def save(obj, export_dir, signatures=None):
        if os.path.exists(export_dir) and os.listdir(export_dir):
            raise RuntimeError(f"fake tf: {export_dir} is not empty")
        os.makedirs(export_dir, exist_ok=True)
        described = {}
        for key, fn in (signatures or {}).items():
            inputs = {spec.name: {"dtype": spec.dtype, "shape": spec.shape} for spec in fn.input_signature}
            outputs = fn(**{name: constant(PROBE) for name in inputs})
            described[key] = {
                "inputs": inputs,
                "outputs": sorted(outputs),
                "probe": {name: t.tolist() for name, t in outputs.items()},
            }
        with open(os.path.join(export_dir, "saved_model.pb"), "w", encoding="utf-8") as f:
            json.dump({"tags": ["serve"], "signatures": described}, f)
        os.makedirs(os.path.join(export_dir, "variables"), exist_ok=True)
        _saved[os.path.abspath(export_dir)] = dict(signatures or {})

    @staticmethod
    def load(export_dir):
        signatures = _saved[os.path.abspath(export_dir)]
        wrong = os.environ.get("FAKE_TF_WRONG_ANSWER") == "1"

        def wrap(fn):
            def call(**kwargs):
                out = fn(**kwargs)
                return {k: (v + 1.0 if wrong else v) for k, v in out.items()}

            return call

        return _Loaded({key: wrap(fn) for key, fn in signatures.items()})

"""Prepares the models folder that the compose stack's TensorFlow Serving replicas serve.

Run by the `models-init` service in the tensorflow/tensorflow image (docker-compose.yml); it writes
into the `models` volume and exits:

  /models/half_plus_two/1/   SavedModel: y = 0.5 * x + 2 (half_plus_two)
  /models/half_plus_two/2/   SavedModel: y = 0.5 * x + 3 (half_plus_three), the canary
  /models/config/v1.config   TF Serving model config pinning version 1 (model_version_policy specific)
  /models/config/v2.config   the same for version 2

Both SavedModels have one signature, `serving_default`: input `x` (float32, shape [-1]), output `y`
(float32, shape [-1]), so `{"instances": [1.0, 2.0, 5.0]}` predicts `[2.5, 3.0, 4.5]` on version 1
and `[3.5, 4.0, 5.5]` on version 2, as the reference half_plus_two/half_plus_three models do.

Each version is exported into a staging folder beside the model, loaded back and checked on sample
inputs, then renamed into place, so a replica never sees a half-written version. A later run with
the same script and TensorFlow version finds the stamp file and only rewrites the config files
(`--force` exports again).

`--configs-only` writes the config files without importing TensorFlow (the repository's tests use it).
"""

import argparse
import hashlib
import os
import shutil
import sys
import tempfile

MODEL_NAME = "half_plus_two"

# version -> (what the version computes, the intercept b in y = 0.5 * x + b)
VERSIONS = {
    1: ("half_plus_two", 2.0),
    2: ("half_plus_three", 3.0),
}

SAMPLE_INPUTS = [1.0, 2.0, 5.0]


def model_config(model_dir, version):
    """A ModelServerConfig (text proto) serving exactly one version of the model."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{MODEL_NAME}"\n'
        f'    base_path: "{model_dir}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy {\n"
        "      specific {\n"
        f"        versions: {version}\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "}\n"
    )


def write_atomically(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_configs(out):
    model_dir = os.path.join(out, MODEL_NAME)
    for version in VERSIONS:
        path = os.path.join(out, "config", f"v{version}.config")
        write_atomically(path, model_config(model_dir, version))
        print(f"export: wrote {path} (serves version {version} of {MODEL_NAME})", flush=True)


def script_digest():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def export_version(tf, staging, version, intercept):
    """Saves y = 0.5 * x + intercept as a SavedModel in `staging` and checks it loads and answers."""

    class HalfPlus(tf.Module):
        def __init__(self):
            super().__init__()
            self.slope = tf.Variable(0.5, dtype=tf.float32, name="slope")
            self.intercept = tf.Variable(intercept, dtype=tf.float32, name="intercept")

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32, name="x")])
        def serve(self, x):
            return {"y": self.slope * x + self.intercept}

    module = HalfPlus()
    tf.saved_model.save(module, staging, signatures={"serving_default": module.serve.get_concrete_function()})

    loaded = tf.saved_model.load(staging)
    signature = loaded.signatures["serving_default"]
    got = signature(x=tf.constant(SAMPLE_INPUTS, dtype=tf.float32))["y"].numpy().tolist()
    want = [0.5 * x + intercept for x in SAMPLE_INPUTS]
    if any(abs(g - w) > 1e-6 for g, w in zip(got, want)) or len(got) != len(want):
        raise SystemExit(f"export: version {version} answers {got} for {SAMPLE_INPUTS}, expected {want}")
    print(f"export: version {version} checked: {SAMPLE_INPUTS} -> {got}", flush=True)


def export_models(out, force):
    import tensorflow as tf  # noqa: PLC0415 (only here: --configs-only must work without TensorFlow)

    model_dir = os.path.join(out, MODEL_NAME)
    stamp_path = os.path.join(out, ".export-stamp")
    stamp = f"{script_digest()} tensorflow {tf.__version__}\n"
    complete = all(os.path.isfile(os.path.join(model_dir, str(v), "saved_model.pb")) for v in VERSIONS)
    if not force and complete and os.path.isfile(stamp_path):
        with open(stamp_path, encoding="utf-8") as f:
            if f.read() == stamp:
                print(f"export: {model_dir} is up to date (tensorflow {tf.__version__}); nothing to export", flush=True)
                return

    os.makedirs(model_dir, exist_ok=True)
    # The staging folder is beside the model folder, not in it: TF Serving only looks at numbered
    # folders under base_path, and the final rename stays on one filesystem (atomic).
    staging_root = tempfile.mkdtemp(prefix=".staging-", dir=out)
    try:
        for version, (name, intercept) in VERSIONS.items():
            staging = os.path.join(staging_root, str(version))
            export_version(tf, staging, version, intercept)
            target = os.path.join(model_dir, str(version))
            if os.path.exists(target):
                shutil.rmtree(target)
            os.replace(staging, target)
            print(f"export: {target} = {name} (y = 0.5 * x + {intercept:g})", flush=True)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
    write_atomically(stamp_path, stamp)


def main(argv):
    parser = argparse.ArgumentParser(description="Export half_plus_two (v1) and half_plus_three (v2) for TF Serving.")
    parser.add_argument("--out", default="/models", help="the models folder (default /models)")
    parser.add_argument("--force", action="store_true", help="export even if the stamp says the models are up to date")
    parser.add_argument("--configs-only", action="store_true", help="write the TF Serving config files only (no TensorFlow needed)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if not args.configs_only:
        export_models(out, args.force)
    write_configs(out)
    print("export: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

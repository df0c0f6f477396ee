"""Prepares the models folder that the compose stack's TensorFlow Serving replicas serve.

Run by the `models-init` service in the tensorflow/tensorflow image (docker-compose.yml); it writes
into the `models` volume and exits:

  /models/half_plus_two/1/                SavedModel: y = 0.5 * x + 2 (half_plus_two)
  /models/half_plus_two/2/                SavedModel: y = 0.5 * x + 3 (half_plus_three), the stable version
  /models/config/half_plus_two.config     TF Serving model config: the model from that one base path,
                                          model_version_policy { latest { num_versions: 2 } }

Every replica serves the two newest versions under the base path. A new version is one more
numbered folder: `--version 3 --intercept 3` exports y = 0.5 * x + 3 as version 3 (and nothing
else), which each replica loads at its next file-system poll (`--file_system_poll_wait_seconds`),
unloading the oldest; the gateway then finds it on the replicas (docs/operations.md).

Both SavedModels have one signature, `serving_default`: input `x` (float32, shape [-1]), output `y`
(float32, shape [-1]), so `{"instances": [1.0, 2.0, 5.0]}` predicts `[2.5, 3.0, 4.5]` on version 1
and `[3.5, 4.0, 5.5]` on version 2, as the reference half_plus_two/half_plus_three models do.

Each version is exported into a staging folder beside the model, loaded back and checked on sample
inputs, then renamed into place, so a replica never sees a half-written version. A later run with
the same script and TensorFlow version finds the stamp file and only rewrites the config file
(`--force` exports again).

`--configs-only` writes the config file without importing TensorFlow (the repository's tests use it).
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

# How many of the newest versions each replica keeps loaded: the stable one and the one before it
# (still there for clients that ask for it by number), or the stable one and a new candidate.
NUM_VERSIONS = 2


def model_config(model_dir):
    """A ModelServerConfig (text proto) serving the newest NUM_VERSIONS versions under one base path."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{MODEL_NAME}"\n'
        f'    base_path: "{model_dir}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy {\n"
        "      latest {\n"
        f"        num_versions: {NUM_VERSIONS}\n"
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
    path = os.path.join(out, "config", f"{MODEL_NAME}.config")
    write_atomically(path, model_config(model_dir))
    print(f"export: wrote {path} (serves the {NUM_VERSIONS} newest versions of {MODEL_NAME} under {model_dir})", flush=True)


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

    place_versions(tf, out, {v: (name, intercept) for v, (name, intercept) in VERSIONS.items()})
    write_atomically(stamp_path, stamp)


def place_versions(tf, out, versions):
    """Exports each version into a staging folder, checks it, then renames it into the base path."""
    model_dir = os.path.join(out, MODEL_NAME)
    os.makedirs(model_dir, exist_ok=True)
    # The staging folder is beside the model folder, not in it: TF Serving only looks at numbered
    # folders under base_path, and the final rename stays on one filesystem (atomic), so a replica
    # polling the base path never loads a half-written version.
    staging_root = tempfile.mkdtemp(prefix=".staging-", dir=out)
    try:
        for version, (name, intercept) in versions.items():
            staging = os.path.join(staging_root, str(version))
            export_version(tf, staging, version, intercept)
            target = os.path.join(model_dir, str(version))
            if os.path.exists(target):
                shutil.rmtree(target)
            os.replace(staging, target)
            print(f"export: {target} = {name} (y = 0.5 * x + {intercept:g})", flush=True)
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)


def add_version(out, version, intercept):
    """Exports one new version (y = 0.5 * x + intercept) into the base path the replicas poll."""
    import tensorflow as tf  # noqa: PLC0415

    target = os.path.join(out, MODEL_NAME, str(version))
    if os.path.exists(target):
        raise SystemExit(f"export: {target} exists; a version number is never reused (TF Serving may have it loaded)")
    place_versions(tf, out, {version: ("a new export", intercept)})


def main(argv):
    parser = argparse.ArgumentParser(description="Export half_plus_two (v1) and half_plus_three (v2) for TF Serving, or one more version.")
    parser.add_argument("--out", default="/models", help="the models folder (default /models)")
    parser.add_argument("--force", action="store_true", help="export even if the stamp says the models are up to date")
    parser.add_argument("--configs-only", action="store_true", help="write the TF Serving config file only (no TensorFlow needed)")
    parser.add_argument("--version", type=int, help="export only this new version (with --intercept), e.g. 3")
    parser.add_argument("--intercept", type=float, help="b in y = 0.5 * x + b for --version (3 answers as version 2 does)")
    args = parser.parse_args(argv)
    if (args.version is None) != (args.intercept is None):
        parser.error("--version and --intercept go together")
    if args.version is not None and args.version < 1:
        parser.error("--version must be a positive version number")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    if args.version is not None:
        add_version(out, args.version, args.intercept)
    elif not args.configs_only:
        export_models(out, args.force)
    write_configs(out)
    print("export: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

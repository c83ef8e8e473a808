#!/usr/bin/python3
# runc for podman where root lacks CAP_SYS_RESOURCE and the cgroups are v1 (hybrid), as in this
# project's VMs: drops process.rlimits, linux.resources and linux.cgroupsPath from the bundle's
# config.json, then execs Debian's runc with the same arguments. Installed by `cargo xtask compose`.
import json
import os
import sys

args = sys.argv[1:]
if "create" in args or "run" in args:
    bundle = "."
    for i, arg in enumerate(args):
        if arg in ("--bundle", "-b") and i + 1 < len(args):
            bundle = args[i + 1]
        elif arg.startswith("--bundle="):
            bundle = arg.split("=", 1)[1]
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            spec = json.load(f)
        spec.get("process", {}).pop("rlimits", None)
        spec.get("linux", {}).pop("resources", None)
        spec.get("linux", {}).pop("cgroupsPath", None)
        with open(path, "w") as f:
            json.dump(spec, f)
os.execv("/usr/bin/runc", ["runc"] + args)

#!/usr/bin/env python3
"""Every datatype the server writes is deployed: a lint for deploy/.

The datatypes are read from the server's source (the datatype argument of
every np_spool_* call under src/, string literals and the NP_*_DATATYPE
macros they name), so a new datatype cannot be forgotten here. For each,
deploy/k8s/netpulse.yaml must have
  - a hostPath volume /cache/data/<experiment>/<dt>,
  - that volume mounted in netpulse-server at <datadir>/<dt>,
  - exactly one uploader that names it: pusher (-datatype=<dt>) or
    jostler (-datatype=<dt> plus -datatype-schema-file=<dt>:<path>, the
    schema copied there by an init container from the image's copy of
    schemas/<dt>.json), with the same volume mounted at <datadir>/<dt>;
and the Dockerfile must create the spool directory, the container smoke
test mount it. The server's front-door and metrics ports must be declared
container ports. The checks run on the real files, then on mutated copies
(each gap this lint exists for must be reported), so the lint cannot pass by
checking nothing.

  deploy_datatypes.py REPO_ROOT
"""
import copy
import os
import re
import sys

try:
    import yaml  # Debian: python3-yaml
except ImportError:
    sys.exit("deploy_datatypes.py: python3-yaml missing (scripts/install-deps.sh installs it)")

DT_RE = re.compile(r"^[a-z][a-z0-9]*$")
CALL_RE = re.compile(r"\bnp_spool_(?:write|write_async|write_async_gzip|recover|prepare)\s*\(")
DEFINE_RE = re.compile(r'^\s*#\s*define\s+(NP_\w+)\s+"([^"]*)"', re.M)


def call_args(text, start):
    """The top-level comma-separated arguments of the call whose '(' is at
    text[start - 1]."""
    depth, args, cur, i = 1, [], "", start
    while i < len(text) and depth:
        c = text[i]
        if c == '"':
            j = text.index('"', i + 1)
            cur += text[i:j + 1]
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if not depth:
                break
        if c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    args.append(cur.strip())
    return args


def source_datatypes(root):
    texts = {}
    for d, _, files in os.walk(os.path.join(root, "src")):
        for f in files:
            if f.endswith((".c", ".h")):
                with open(os.path.join(d, f), encoding="utf-8") as fh:
                    texts[os.path.join(d, f)] = fh.read()
    macros = {}
    for t in texts.values():
        macros.update(dict(DEFINE_RE.findall(t)))
    found = set()
    for path, t in texts.items():
        if path.endswith(os.path.join("data", "spool.c")):
            continue  # the writer itself passes its parameter through
        for m in CALL_RE.finditer(t):
            for a in call_args(t, m.end()):
                v = a[1:-1] if a.startswith('"') and a.endswith('"') else macros.get(a)
                if v is not None and DT_RE.match(v):
                    found.add(v)
    return sorted(found)


def by_name(items):
    return {i["name"]: i for i in items or []}


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def arg_values(container, flag):
    pre = "-" + flag + "="
    return [a[len(pre):].split()[0] for a in container.get("args", []) if a.startswith(pre)]


def port_of(addr):
    m = re.search(r":(\d+)$", addr or "")
    return int(m.group(1)) if m else None


def check(manifest, dockerfile, smoke, datatypes, root):
    errs = []
    spec = manifest["spec"]["template"]["spec"]
    cons = by_name(spec["containers"])
    inits = spec.get("initContainers", [])
    vols = by_name(spec.get("volumes"))
    server = cons.get("netpulse-server")
    if not server:
        return ["no netpulse-server container"]
    env = env_of(server)
    datadir = env.get("NETPULSE_DATADIR") or "/var/spool/netpulse"
    experiment = os.path.basename(datadir.rstrip("/"))

    for port_env in ("NETPULSE_HTTPS_ADDR", "NETPULSE_HTTP_ADDR", "NETPULSE_NDT7_ADDR",
                     "NETPULSE_NDT7_ADDR_CLEARTEXT", "NETPULSE_PROMETHEUS_ADDR"):
        p = port_of(env.get(port_env))
        if p and p not in [c["containerPort"] for c in server.get("ports", [])]:
            errs.append("netpulse-server listens on %d (%s) but does not declare it" % (p, port_env))

    def mounted(container, vol, path):
        return any(m["name"] == vol and m["mountPath"].rstrip("/") == path
                   for m in container.get("volumeMounts", []))

    for dt in datatypes:
        path = datadir + "/" + dt
        vol = [n for n, v in vols.items()
               if (v.get("hostPath") or {}).get("path") == "/cache/data/%s/%s" % (experiment, dt)]
        if not vol:
            errs.append("%s: no hostPath volume /cache/data/%s/%s" % (dt, experiment, dt))
            continue
        vol = vol[0]
        if not mounted(server, vol, path):
            errs.append("%s: netpulse-server does not mount volume %s at %s" % (dt, vol, path))
        uploaders = [c for c in cons.values() if c["name"] in ("pusher", "jostler")
                     and dt in arg_values(c, "datatype")]
        if len(uploaders) != 1:
            errs.append("%s: %d uploaders name it (-datatype=%s), expected 1" % (dt, len(uploaders), dt))
            continue
        up = uploaders[0]
        if not mounted(up, vol, path):
            errs.append("%s: %s does not mount volume %s at %s" % (dt, up["name"], vol, path))
        if up["name"] == "pusher":
            if arg_values(up, "directory") != [datadir]:
                errs.append("%s: pusher -directory is not %s" % (dt, datadir))
        else:
            base = arg_values(up, "local-data-dir")
            if [b.rstrip("/") + "/" + e for b in base for e in arg_values(up, "experiment")] != [datadir]:
                errs.append("%s: jostler -local-data-dir/-experiment is not %s" % (dt, datadir))
            schema = [s.split(":", 1)[1] for s in arg_values(up, "datatype-schema-file")
                      if s.startswith(dt + ":")]
            if len(schema) != 1:
                errs.append("%s: jostler has no -datatype-schema-file=%s:PATH" % (dt, dt))
                continue
            sdir, sfile = os.path.split(schema[0])
            svol = [m["name"] for m in up.get("volumeMounts", []) if m["mountPath"].rstrip("/") == sdir]
            if not svol:
                errs.append("%s: jostler mounts nothing at %s (its schema)" % (dt, sdir))
                continue
            writers = [i for i in inits if any(m["name"] == svol[0] for m in i.get("volumeMounts", []))
                       and "schemas/%s.json" % dt in " ".join(i.get("command", []) + i.get("args", []))]
            if not writers:
                errs.append("%s: no init container copies schemas/%s.json into volume %s"
                            % (dt, dt, svol[0]))
            if sfile != dt + ".json" or not os.path.exists(os.path.join(root, "schemas", dt + ".json")):
                errs.append("%s: schema file %s is not schemas/%s.json" % (dt, schema[0], dt))
        if not re.search(r"mkdir -p[^\n]*\s%s(\s|$)" % re.escape(path), dockerfile):
            errs.append("%s: the Dockerfile does not create %s" % (dt, path))
        if (":%s\"" % path) not in smoke:
            errs.append("%s: scripts/docker-test.sh does not mount %s" % (dt, path))
    return errs


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    datatypes = source_datatypes(root)
    print("datatypes written by the server (from src/):", ", ".join(datatypes))
    # The ones this lint was written for; a source scan that finds fewer is broken.
    if not {"ndt7", "responsiveness1"} <= set(datatypes):
        sys.exit("FAIL: the source scan missed ndt7 or responsiveness1: %s" % datatypes)
    with open(os.path.join(root, "deploy", "k8s", "netpulse.yaml"), encoding="utf-8") as f:
        manifest = yaml.safe_load(f)
    with open(os.path.join(root, "Dockerfile"), encoding="utf-8") as f:
        dockerfile = f.read()
    with open(os.path.join(root, "scripts", "docker-test.sh"), encoding="utf-8") as f:
        smoke = f.read()

    errs = check(manifest, dockerfile, smoke, datatypes, root)
    for e in errs:
        print("FAIL", e)
    if errs:
        sys.exit(1)

    # Each gap must be seen: drop one piece at a time from a copy.
    def without(fn):
        m = copy.deepcopy(manifest)
        fn(m["spec"]["template"]["spec"])
        return m

    def drop_mount(name, vol):
        def f(spec):
            c = by_name(spec["containers"])[name]
            c["volumeMounts"] = [m for m in c["volumeMounts"] if m["name"] != vol]
        return f

    def drop_arg(name, arg):
        def f(spec):
            c = by_name(spec["containers"])[name]
            c["args"] = [a for a in c["args"] if a != arg]
        return f

    def drop_volume(vol):
        def f(spec):
            spec["volumes"] = [v for v in spec["volumes"] if v["name"] != vol]
        return f

    def drop_init(name):
        def f(spec):
            spec["initContainers"] = [i for i in spec["initContainers"] if i["name"] != name]
        return f

    def drop_port(port):
        def f(spec):
            c = by_name(spec["containers"])["netpulse-server"]
            c["ports"] = [p for p in c["ports"] if p["containerPort"] != port]
        return f

    mutations = [
        ("server mount", without(drop_mount("netpulse-server", "netpulse-responsiveness1-data"))),
        ("jostler -datatype", without(drop_arg("jostler", "-datatype=responsiveness1"))),
        ("pusher -datatype", without(drop_arg("pusher", "-datatype=ndt7"))),
        ("hostPath volume", without(drop_volume("netpulse-responsiveness1-data"))),
        ("jostler mount", without(drop_mount("jostler", "netpulse-responsiveness1-data"))),
        ("schema init container", without(drop_init("install-jostler-schemas"))),
        ("port 443", without(drop_port(443))),
    ]
    for what, m in mutations:
        if not check(m, dockerfile, smoke, datatypes, root):
            errs.append("a manifest without its %s passes the check" % what)
            print("FAIL", errs[-1])
    if not check(manifest, dockerfile.replace(" /var/spool/netpulse/responsiveness1", ""), smoke,
                 datatypes, root):
        errs.append("a Dockerfile without the responsiveness1 spool passes the check")
        print("FAIL", errs[-1])
    if errs:
        sys.exit(1)
    print("ok: each datatype has a volume, a server mount, one uploader with its mount "
          "(and schema for jostler), a Dockerfile directory and a smoke-test mount; "
          "%d mutated copies fail as they must" % (len(mutations) + 1))


if __name__ == "__main__":
    main()

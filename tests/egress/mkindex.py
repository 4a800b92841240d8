#!/usr/bin/env python3
"""mkindex: a PEP 503 package index on disk, for the egress tests.

Usage: mkindex.py OUTDIR

Writes OUTDIR/simple/<project>/index.html and OUTDIR/packages/*.whl, so that
`python3 -m http.server` over OUTDIR is an index pip installs from offline:
- caissondemo 0.1, a wheel zipped here by hand (a module `caissondemo` with
  `greet()`), dist-info METADATA, WHEEL and RECORD;
- requests and what it needs (urllib3, six, idna, certifi, charset_normalizer),
  as wheels of the files Debian's python3-* packages installed under
  /usr/lib/python3/dist-packages (the done-when task: "install requests").
Only the standard library; no network."""

import base64
import hashlib
import html
import os
import sys
import zipfile

DIST = "/usr/lib/python3/dist-packages"

# (project, import packages or modules, requires) of the Debian-installed
# packages requests needs. Debian strips requests' own Requires-Dist and
# unbundles six from urllib3; they are written here so pip must fetch
# each from the index.
DEBIAN = [
    ("requests", ["requests"], ["urllib3", "idna", "certifi", "charset_normalizer"]),
    ("urllib3", ["urllib3"], ["six"]),
    ("six", ["six.py"], []),
    ("idna", ["idna"], []),
    ("certifi", ["certifi"], []),
    ("charset_normalizer", ["charset_normalizer"], []),
]

DEMO = {
    "caissondemo/__init__.py":
        'def greet(name):\n    return "hello, %s, from caissondemo" % name\n',
}


def record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def installed_version(project):
    """The version of project in Debian's dist-packages (egg-info or dist-info)."""
    for entry in os.listdir(DIST):
        for suffix in (".egg-info", ".dist-info"):
            if entry.endswith(suffix) and entry.split("-")[0].lower() == project.lower():
                return entry[: -len(suffix)].split("-", 1)[1]
    raise SystemExit("mkindex: %s is not installed under %s" % (project, DIST))


def package_files(pkg):
    """{archive path: bytes} of an import package's (or module's) sources."""
    out = {}
    root = os.path.join(DIST, pkg)
    if os.path.isfile(root):
        with open(root, "rb") as f:
            return {pkg: f.read()}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, DIST)
            with open(path, "rb") as f:
                out[rel] = f.read()
    return out


def write_wheel(outdir, project, version, files, requires):
    """Zips files plus dist-info into packages/; returns the wheel's name."""
    dist = "%s-%s" % (project.replace("-", "_"), version)
    meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s for the egress tests\n" % (
        project, version, project)
    meta += "".join("Requires-Dist: %s\n" % r for r in requires)
    wheel = ("Wheel-Version: 1.0\nGenerator: caisson-mkindex\nRoot-Is-Purelib: true\n"
             "Tag: py3-none-any\n")
    files = dict(files)
    files["%s.dist-info/METADATA" % dist] = meta.encode()
    files["%s.dist-info/WHEEL" % dist] = wheel.encode()
    files["%s.dist-info/top_level.txt" % dist] = (
        "\n".join(sorted({p.split("/")[0].replace(".py", "") for p in files
                          if not p.startswith(dist)})) + "\n").encode()
    record = "".join("%s,%s,%d\n" % (p, record_hash(d), len(d)) for p, d in sorted(files.items()))
    record += "%s.dist-info/RECORD,,\n" % dist
    files["%s.dist-info/RECORD" % dist] = record.encode()
    name = "%s-py3-none-any.whl" % dist
    with zipfile.ZipFile(os.path.join(outdir, "packages", name), "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            z.writestr(path, files[path])
    return name


def normalize(project):
    return project.lower().replace("_", "-").replace(".", "-")


def write_index(outdir, wheels):
    """simple/index.html and one page per project, links with sha256."""
    simple = os.path.join(outdir, "simple")
    os.makedirs(simple, exist_ok=True)
    links = []
    for project, name in sorted(wheels):
        proj = normalize(project)
        links.append('<a href="%s/">%s</a><br>' % (proj, proj))
        os.makedirs(os.path.join(simple, proj), exist_ok=True)
        with open(os.path.join(outdir, "packages", name), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        page = ('<!DOCTYPE html>\n<html><body>\n<a href="../../packages/%s#sha256=%s">%s</a><br>\n'
                '</body></html>\n' % (html.escape(name), digest, html.escape(name)))
        with open(os.path.join(simple, proj, "index.html"), "w") as f:
            f.write(page)
    with open(os.path.join(simple, "index.html"), "w") as f:
        f.write("<!DOCTYPE html>\n<html><body>\n%s\n</body></html>\n" % "\n".join(links))


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: mkindex.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(os.path.join(outdir, "packages"), exist_ok=True)
    wheels = [("caissondemo", write_wheel(outdir, "caissondemo", "0.1", {
        p: d.encode() for p, d in DEMO.items()}, []))]
    for project, pkgs, requires in DEBIAN:
        files = {}
        for pkg in pkgs:
            files.update(package_files(pkg))
        wheels.append((project, write_wheel(outdir, project, installed_version(project), files,
                                            requires)))
    write_index(outdir, wheels)


if __name__ == "__main__":
    main()

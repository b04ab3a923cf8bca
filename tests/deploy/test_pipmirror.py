"""The machine's pip configuration as a container build gets it (deploy/image/pipmirror.py)."""

import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "image"))

import pipmirror  # noqa: E402

CONFIG_LIST = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.extra-index-url='file:///srv/pypi/simple file:///srv/more/simple'
global.index-url='https://mirror.invalid/simple'
:env:.index-url='https://env.invalid/simple'
:env:.find-links='/srv/wheels'
global.client-cert='/root/key.pem'
site.timeout='5'
"""


def test_it_reads_files_and_lets_the_environment_win():
    config = pipmirror.parse_config_list(CONFIG_LIST)
    assert config["index-url"] == "https://env.invalid/simple"
    assert config["extra-index-url"] == "file:///srv/pypi/simple file:///srv/more/simple"
    assert config["find-links"] == "/srv/wheels"
    assert "timeout" not in config, "only the global and install sections apply to installs"


def test_it_serves_local_locations_and_keeps_remote_ones(tmp_path):
    index, wheels = tmp_path / "pypi" / "simple", tmp_path / "wheels"
    index.mkdir(parents=True)
    wheels.mkdir()
    config = {
        "index-url": "https://mirror.invalid/simple",
        "extra-index-url": f"file://{index} file://{tmp_path}/missing/simple",
        "find-links": str(wheels),
        "cert": "/etc/ssl/certs/ca-certificates.crt",
        "client-cert": "/root/key.pem",
        "default-timeout": "180",
    }
    rewritten, roots = pipmirror.rewrite(config, "http://127.0.0.1:9")
    assert rewritten["index-url"] == "https://mirror.invalid/simple"
    assert rewritten["extra-index-url"] == f"http://127.0.0.1:9{index}"
    assert rewritten["find-links"] == f"http://127.0.0.1:9{wheels}"
    assert rewritten["cert"] == pipmirror.CA_IN_BUILD
    assert "client-cert" not in rewritten, "a private key never goes into a build"
    assert rewritten["default-timeout"] == "180"
    # An index's pages link to ../../files: its parent folder is served.
    assert roots == [index.parent, wheels]


def test_the_server_offers_the_roots_and_nothing_else(tmp_path):
    index = tmp_path / "pypi" / "simple" / "torch"
    index.mkdir(parents=True)
    (index / "index.html").write_text('<a href="../../files/torch.whl">torch.whl</a>')
    (tmp_path / "pypi" / "files").mkdir()
    (tmp_path / "pypi" / "files" / "torch.whl").write_bytes(b"wheel")
    (tmp_path / "private.txt").write_text("not for the build")
    config = {"extra-index-url": f"file://{tmp_path}/pypi/simple"}
    with pipmirror.PipMirror(config) as mirror:
        base = mirror.config["extra-index-url"]
        assert "torch.whl" in requests.get(f"{base}/torch/", timeout=5).text
        assert requests.get(f"{base}/../files/torch.whl", timeout=5).content == b"wheel"
        server = base.removesuffix(f"{tmp_path}/pypi/simple")
        assert requests.get(f"{server}{tmp_path}/private.txt", timeout=5).status_code == 404
        assert requests.get(f"{server}/etc/passwd", timeout=5).status_code == 404
    assert mirror.config_text.startswith("[global]\nextra-index-url = http://127.0.0.1:")
    assert mirror.index_url == ""

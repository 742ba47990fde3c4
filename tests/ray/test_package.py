"""The ray extra stays optional: ``import chroma_frame`` never imports Ray."""

from tests.conftest import run_python


def test_import_chroma_frame_does_not_import_ray():
    out = run_python("import sys, chroma_frame\n"
                     "client = chroma_frame.EphemeralClient()\n"
                     "client.create_collection('plain').add(ids=['a'], embeddings=[[1.0, 2.0]])\n"
                     "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_chroma_frame_ray_brings_ray():
    out = run_python("import sys, chroma_frame.ray as cfr\nprint('ray.data' in sys.modules, cfr.write.__module__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "chroma_frame.ray.write"]

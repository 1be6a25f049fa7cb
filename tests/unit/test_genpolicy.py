"""The committed sample policy file is exactly what oslopolicy-sample-generator makes today.

When this fails, a rule was added or changed without regenerating the sample: run
`tox -e genpolicy` and commit etc/magnum-lite/policy.yaml.sample with the change.
"""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = REPO / "etc" / "magnum-lite" / "policy.yaml.sample"


def test_sample_policy_is_up_to_date(tmp_path):
    regenerated = tmp_path / "policy.yaml.sample"
    subprocess.run([sys.executable, "-c",
                    "import sys; from oslo_policy import generator; "
                    "sys.exit(generator.generate_sample())",
                    "--namespace", "magnum_lite", "--output-file", str(regenerated)],
                   check=True, cwd=REPO, timeout=120)
    assert regenerated.read_text() == SAMPLE.read_text(), (
        "etc/magnum-lite/policy.yaml.sample is stale: run `tox -e genpolicy`")

"""Default policies in code, one module per resource (oslo.policy.policies entry point)."""

import itertools

from magnum_lite.common.policies import (
    base,
    certificate,
    cluster,
    cluster_template,
    driver,
    magnum_service,
    nodegroup,
    quota,
    stats,
)


def list_rules() -> list:
    return list(itertools.chain(
        base.list_rules(),
        cluster_template.list_rules(),
        cluster.list_rules(),
        nodegroup.list_rules(),
        certificate.list_rules(),
        driver.list_rules(),
        quota.list_rules(),
        stats.list_rules(),
        magnum_service.list_rules(),
    ))

"""Field types and the enumerations (statuses, COEs, server types) objects use."""

import json

from oslo_versionedobjects import fields

from magnum_lite.common import states

# Re-exported so object modules import every field type from one place.
BooleanField = fields.BooleanField
DateTimeField = fields.DateTimeField
DictOfStringsField = fields.DictOfStringsField
IntegerField = fields.IntegerField
ListOfStringsField = fields.ListOfStringsField
StringField = fields.StringField
UUIDField = fields.UUIDField


class Json(fields.FieldType):
    """Any JSON-serializable value (a driver's config)."""

    def coerce(self, obj, attr, value):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{attr} must be JSON-serializable: {err}") from err
        return value


class JsonField(fields.AutoTypedField):
    AUTO_TYPE = Json()


class ClusterStatus(states.ClusterStatus, fields.Enum):
    """Magnum's cluster statuses (their constants live in common/states.py)."""

    def __init__(self) -> None:
        super().__init__(valid_values=ClusterStatus.ALL)


class ClusterHealthStatus(fields.Enum):
    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    UNKNOWN = "UNKNOWN"

    ALL = (HEALTHY, UNHEALTHY, UNKNOWN)

    def __init__(self) -> None:
        super().__init__(valid_values=ClusterHealthStatus.ALL)


class ClusterType(fields.Enum):
    """The container orchestration engines (Magnum's `coe`)."""

    KUBERNETES = "kubernetes"
    SWARM_MODE = "swarm-mode"
    MESOS = "mesos"

    ALL = (KUBERNETES, SWARM_MODE, MESOS)

    def __init__(self) -> None:
        super().__init__(valid_values=ClusterType.ALL)


class ServerType(fields.Enum):
    VM = "vm"
    BM = "bm"

    ALL = (VM, BM)

    def __init__(self) -> None:
        super().__init__(valid_values=ServerType.ALL)


class NodeGroupRole:
    MASTER = "master"
    WORKER = "worker"


class QuotaResourceName(fields.Enum):
    CLUSTER = "Cluster"

    ALL = (CLUSTER,)

    def __init__(self) -> None:
        super().__init__(valid_values=QuotaResourceName.ALL)


class MagnumServiceState:
    UP = "up"
    DOWN = "down"


class ClusterStatusField(fields.BaseEnumField):
    AUTO_TYPE = ClusterStatus()


class ClusterHealthStatusField(fields.BaseEnumField):
    AUTO_TYPE = ClusterHealthStatus()


class ClusterTypeField(fields.BaseEnumField):
    AUTO_TYPE = ClusterType()


class ServerTypeField(fields.BaseEnumField):
    AUTO_TYPE = ServerType()


class QuotaResourceNameField(fields.BaseEnumField):
    AUTO_TYPE = QuotaResourceName()

"""Field types and the enumerations (statuses, COEs, server types) objects use."""

import json

from oslo_versionedobjects import fields

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


class ClusterStatus(fields.Enum):
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_COMPLETE = "CREATE_COMPLETE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_COMPLETE = "UPDATE_COMPLETE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    DELETE_COMPLETE = "DELETE_COMPLETE"
    RESUME_COMPLETE = "RESUME_COMPLETE"
    RESUME_FAILED = "RESUME_FAILED"
    RESTORE_COMPLETE = "RESTORE_COMPLETE"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    SNAPSHOT_COMPLETE = "SNAPSHOT_COMPLETE"
    CHECK_COMPLETE = "CHECK_COMPLETE"
    ADOPT_COMPLETE = "ADOPT_COMPLETE"

    ALL = (CREATE_IN_PROGRESS, CREATE_FAILED, CREATE_COMPLETE, UPDATE_IN_PROGRESS,
           UPDATE_FAILED, UPDATE_COMPLETE, DELETE_IN_PROGRESS, DELETE_FAILED, DELETE_COMPLETE,
           RESUME_COMPLETE, RESUME_FAILED, RESTORE_COMPLETE, ROLLBACK_IN_PROGRESS,
           ROLLBACK_FAILED, ROLLBACK_COMPLETE, SNAPSHOT_COMPLETE, CHECK_COMPLETE,
           ADOPT_COMPLETE)
    IN_PROGRESS = (CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS, DELETE_IN_PROGRESS,
                   ROLLBACK_IN_PROGRESS)
    # Statuses from which a resize or other update may start.
    UPDATABLE = (CREATE_COMPLETE, UPDATE_COMPLETE, RESUME_COMPLETE, RESTORE_COMPLETE,
                 ROLLBACK_COMPLETE, SNAPSHOT_COMPLETE, CHECK_COMPLETE, ADOPT_COMPLETE,
                 UPDATE_FAILED)

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

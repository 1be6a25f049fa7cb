"""Exceptions of magnum_lite. Each carries the HTTP status the API answers with."""

from typing import Any


class MagnumLiteException(Exception):
    """Base exception: `message` is a %-template filled from the keyword arguments."""

    message = "An unknown exception occurred."
    code = 500

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.message % kwargs
            except (KeyError, TypeError):
                message = self.message
        self.detail = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.detail


class Invalid(MagnumLiteException):
    message = "Unacceptable parameters."
    code = 400


class InvalidParameterValue(Invalid):
    message = "%(err)s"


class InvalidName(Invalid):
    message = "Expected a name but received %(name)s."


class InvalidUuidOrName(Invalid):
    message = "Expected a name or uuid but received %(uuid)s."


class NodeNotFound(InvalidParameterValue):
    """A node named in a request (a repair) that the cluster does not have."""

    message = "Cluster %(cluster)s has no node %(node)s."


class InvalidState(Invalid):
    message = "Cluster %(cluster)s is %(status)s: %(action)s is not possible now."


class ClusterTemplateReferenced(Invalid):
    message = "ClusterTemplate %(clustertemplate)s is referenced by one or more clusters."


class PatchError(Invalid):
    message = "Couldn't apply patch '%(patch)s'. Reason: %(reason)s"


class ImageNotFound(Invalid):
    """Magnum's answer (400) for an image the user cannot find in Glance."""

    message = "Image %(image_id)s could not be found."


class FlavorNotFound(Invalid):
    message = "Unable to find flavor %(flavor)s."


class ExternalNetworkNotFound(Invalid):
    message = "Unable to find external network %(network)s."


class FixedNetworkNotFound(Invalid):
    message = "Unable to find fixed network %(network)s."


class FixedSubnetNotFound(Invalid):
    message = "Unable to find fixed subnet %(subnet)s."


class NotAuthorized(MagnumLiteException):
    message = "Not authorized."
    code = 403


class PolicyNotAuthorized(NotAuthorized):
    message = "Policy doesn't allow %(action)s to be performed."


class ClusterTemplatePublishDenied(NotAuthorized):
    message = "Not authorized to set public or hidden flag for cluster template."


class ResourceLimitExceeded(NotAuthorized):
    message = "Resource limit exceeded: %(msg)s"


class NotFound(MagnumLiteException):
    message = "Resource could not be found."
    code = 404


class ClusterTemplateNotFound(NotFound):
    message = "ClusterTemplate %(clustertemplate)s could not be found."


class ClusterNotFound(NotFound):
    message = "Cluster %(cluster)s could not be found."


class ClusterOperationNotFound(NotFound):
    message = "Cluster operation %(operation)s could not be found."


class NodeGroupNotFound(NotFound):
    message = "Nodegroup %(nodegroup)s could not be found."


class DriverNotFound(NotFound):
    message = "Driver %(driver)s could not be found."


class QuotaNotFound(NotFound):
    message = "Quota %(msg)s could not be found."


class KeyPairNotFound(NotFound):
    """Magnum's answer (404, even to a POST) for a Nova keypair the user does not have."""

    message = "Unable to find keypair %(keypair)s."


class X509KeyPairNotFound(NotFound):
    message = "X509KeyPair %(x509keypair)s could not be found."


class MagnumServiceNotFound(NotFound):
    message = "Service %(magnum_service_id)s could not be found."


class Conflict(MagnumLiteException):
    message = "Conflict."
    code = 409


class NodeGroupInvalidInput(Conflict):
    """Magnum's answer (409) for node counts outside a nodegroup's bounds."""

    message = "%(attr)s for %(nodegroup)s is invalid (%(expl)s)."


class DriverInUse(Conflict):
    message = "Driver version %(driver)s is used by one or more clusters."


class DriverExists(Conflict):
    message = ("A driver named %(name)s exists or existed (a deleted driver keeps its "
               "name).")


class ConcurrentUpdate(Conflict):
    message = ("%(resource)s %(uuid)s was changed by another request at the same time; "
               "read it again and retry.")


class OperationFenced(Conflict):
    message = ("Cluster operation %(operation)s is not %(owner)s's any more (another conductor "
               "took it over): nothing of its outcome is written.")


class Duplicate(Conflict):
    message = "Multiple %(resource)s exist with the name %(name)s: use the uuid instead."


class ClusterTemplateAlreadyExists(Conflict):
    message = "A ClusterTemplate with UUID %(uuid)s already exists."


class ClusterAlreadyExists(Conflict):
    message = "A cluster with UUID %(uuid)s already exists."


class NodeGroupAlreadyExists(Conflict):
    message = "A nodegroup with name %(name)s already exists in cluster %(cluster_id)s."


class QuotaAlreadyExists(Conflict):
    message = "Quota for project %(project_id)s already exists for resource %(resource)s."


class MagnumServiceAlreadyExists(Conflict):
    message = "Service %(binary)s on host %(host)s already exists."


class NotAcceptable(MagnumLiteException):
    message = "Request not acceptable."
    code = 406


class ServiceUnavailable(MagnumLiteException):
    message = "%(what)s is unavailable: %(reason)s"
    code = 503


class NoDriverInstalled(MagnumLiteException):
    message = ("no driver is installed for (%(server_type)s, %(distro)s, %(coe)s)")
    code = 400


class CloudError(MagnumLiteException):
    """A cloud service (Heat, Keystone, Octavia, Neutron) refused or failed a request."""

    message = "%(service)s: %(reason)s"
    code = 502


class CloudUnreachable(CloudError):
    """A cloud service did not answer; the work can be tried again once it is back.

    `never_sent`: the request never left this host (no endpoint, the connection refused or
    never made), so the cloud cannot have acted on it.
    """

    message = "cannot reach %(service)s: %(reason)s"
    code = 503

    def __init__(self, message: str | None = None, *, never_sent: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.never_sent = never_sent


class NotSupported(MagnumLiteException):
    """The cluster's driver plugin cannot do what was asked."""

    message = "%(operation)s is not supported"
    code = 400


class CoeError(MagnumLiteException):
    """A cluster's COE API (Kubernetes, Docker, Mesos) refused or failed a request."""

    message = "the cluster's %(coe)s API: %(reason)s"
    code = 502


class CoeUnreachable(CoeError):
    """A cluster's COE API did not answer (down, a node being replaced, a network cut)."""

    message = "cannot reach the cluster's %(coe)s API: %(reason)s"
    code = 503


class CredentialsUndecryptable(MagnumLiteException):
    """A stored secret that no configured key opens: a key was dropped before re-encryption."""

    message = ("A stored secret cannot be decrypted with any key of [credentials] "
               "encryption_keys: put back the key that encrypted it.")


class CredentialsKeyInvalid(MagnumLiteException):
    """[credentials] encryption_keys holds something that is not a Fernet key."""

    message = ("[credentials] encryption_keys: key number %(position)s is not a Fernet key "
               "(urlsafe base64 of 32 bytes).")

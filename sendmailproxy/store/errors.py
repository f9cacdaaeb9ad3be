"""The one error every store raises, whatever its backend: the backends convert their drivers' errors to it."""


class StoreUnavailableError(Exception):
    """The store could not be reached or refused the operation."""

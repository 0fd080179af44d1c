"""One error tree for unseen; every message names the file, field or value at fault."""


class UnseenError(Exception):
    """Base of every error unseen raises on purpose; the CLI prints it as one line."""


class InputError(UnseenError, ValueError):
    """A value, argument or field is out of range, of the wrong type or missing."""


class FileFormatError(InputError):
    """A file cannot be read or does not follow its format (names the file and the field)."""


class ConfigError(InputError):
    """A scenario, station or calibration file is invalid (names the file, key and line)."""


class GeometryError(UnseenError, ValueError):
    """The observation or array geometry is degenerate: no unique answer exists."""


class AmbiguityWarning(UserWarning):
    """The array geometry admits grating lobes or mirror ambiguities at this frequency."""

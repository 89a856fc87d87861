"""One exception family; the CLI maps each class to its exit code in one place (cli.main)."""

import re


def one_line(text: str) -> str:
    """A message (a library's may span lines) as the single line stackpref shows."""
    return re.sub(r"\s*\n\s*", " ", text).strip()


class StackprefError(Exception):
    """Base of every error stackpref raises on purpose; the message is shown as-is."""

    exit_code = 1


class ConfigError(StackprefError):
    """A build option or config file is wrong; the message names the value and the fix."""

    exit_code = 2


class InputError(StackprefError):
    """An input file is unreadable or malformed; the message names the file and the place."""

    exit_code = 3


class OutputExistsError(StackprefError):
    """The output folder exists and --overwrite was not given."""

    exit_code = 4


class MissingDependencyError(StackprefError):
    """An optional dependency is needed for what was asked; the message has the pip command."""

    exit_code = 5


class BuildInvalidError(StackprefError):
    """A build folder fails the output contract (manifest, schemas, leakage check, card), so it is
    not published or loaded; the message names the file and what is wrong."""

    exit_code = 6


class UnreachableError(StackprefError):
    """A remote location (s3://, gs://, ...) cannot be reached: no network, no such bucket, no
    credentials; the message names the location."""

    exit_code = 8


class HubError(StackprefError):
    """Talking to the Hugging Face Hub failed (no token, no access, network); the message never holds
    the token."""

    exit_code = 7

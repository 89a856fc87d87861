"""Site host names from dump file and folder names, and the bundled demo site."""

import re
from importlib import resources
from pathlib import Path

_DUMP_DATE = re.compile(r"[-_](19|20)\d\d([-_]\d\d){0,2}$")
# Sites that live outside *.stackexchange.com.
_OWN_DOMAINS = {
    "stackoverflow": "stackoverflow.com",
    "serverfault": "serverfault.com",
    "superuser": "superuser.com",
    "askubuntu": "askubuntu.com",
    "mathoverflow": "mathoverflow.net",
    "stackapps": "stackapps.com",
}
SAMPLE_SITE = "coffee.stackexchange.com"


def site_host(name: str) -> str:
    """Host name of a site from its folder or archive name: `beer-2017` -> beer.stackexchange.com,
    `datascience.meta.stackexchange.com.7z` as is, `stackoverflow.com-Posts.7z` -> stackoverflow.com."""
    name = re.sub(r"\.7z$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"-posts$", "", name, flags=re.IGNORECASE)
    name = _DUMP_DATE.sub("", name).lower()
    if "." in name:
        return name
    if name in _OWN_DOMAINS:
        return _OWN_DOMAINS[name]
    return name.replace("-meta", ".meta") + ".stackexchange.com"


def bundled_sample() -> Path:
    """The demo site dump shipped with the package (written by the stackpref team)."""
    return Path(str(resources.files("stackpref") / "sample" / SAMPLE_SITE / "Posts.xml"))

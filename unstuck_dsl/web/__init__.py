"""The workspace in a browser: static pages (HTML, plain JavaScript modules, CSS) that `unstuck serve`
mounts at `/`. They read and write only through the `/api` endpoints, so every number a page shows
is the API's number; nothing is fetched from outside the server. `DIRECTORY` is what the server mounts."""

from pathlib import Path

DIRECTORY = Path(__file__).parent

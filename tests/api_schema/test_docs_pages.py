"""The API docs pages load their scripts from our own static files, never from a CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import HTTPS


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_page_references_only_local_static_files(db, plain_static_files, path):
    response = Client(**HTTPS).get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"https?://", html) == []
    assert re.findall(r"(?:src|href)=\"(/static/drf_spectacular_sidecar/[^\"]+)\"", html)

"""`python -m api`: serve the API and the dashboard with uvicorn (API_HOST, API_PORT)."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from dbt_project.errors import exit_on_error
from dbt_project.settings import load_settings


@exit_on_error
def main() -> int:
    settings = load_settings()
    print(f"logml dashboard: http://{settings.api_host}:{settings.api_port}/", flush=True)
    if settings.api_workers == 1:
        uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port)
    else:  # each worker process builds its own app (and pool) from the same environment
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=settings.api_workers,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

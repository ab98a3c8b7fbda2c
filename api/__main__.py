"""`python -m api`: serve the API and the dashboard with uvicorn (API_HOST, API_PORT)."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    print(f"logml dashboard: http://{settings.host}:{settings.port}/", flush=True)
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
    else:  # each worker process builds its own app (and pool) from the same environment
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
        )


if __name__ == "__main__":
    main()

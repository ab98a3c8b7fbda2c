"""Everything the old system's frontend calls, in the old JSON shapes (docs/reference/api.md,
"The old frontend"): /api/ml_lightweight, /api/metrics, /api/service_health,
/api/dashboard_analytics, /api/monitoring, /api/logs and POST /api/ml."""

from fastapi import APIRouter

from api.legacy import analytics, dashboard, logs, ml_lightweight

router = APIRouter()
router.include_router(ml_lightweight.router)
router.include_router(dashboard.router)
router.include_router(analytics.router)
router.include_router(logs.router)

"""A task to 5,000 users with the sandbox failing some: the counts add up, and an audience
of the task's failed users holds exactly them."""
from __future__ import annotations


def test_a_task_to_5000_users_reconciles_and_its_failed_users_make_an_exact_audience(api, workspace, drain):
    key = workspace.admin_key
    assert api.put("/v1/providers/flaky", {"channel": "sms", "kind": "sandbox", "settings": {"failure_rate": 0.1}},
                   key=key).status == 200
    template = api.post("/v1/templates", {"channel": "sms", "name": "Sale", "body": "Sale!"}, key=key).json
    api.post(f"/v1/templates/{template['id']}/approve", key=key)
    users = [f"c{i:05d}" for i in range(5000)]
    for start in range(0, 5000, 1000):
        batch = [{"user_id": u, "phone": f"+86139{int(u[1:]):08d}", "attributes": {"tier": "gold"}}
                 for u in users[start:start + 1000]]
        assert api.post("/v1/profiles:batch", {"profiles": batch}, key=key).status in (200, 207)
    everyone = api.post("/v1/audiences", {"name": "gold", "visibility": "public", "source": {
        "type": "rules", "match": "all", "conditions": [{"attribute": "tier", "op": "eq", "value": "gold"}]}},
        key=key).json
    drain()
    assert api.get(f"/v1/audiences/{everyone['id']}", key=key).json["size"] == 5000

    task = api.post("/v1/tasks", {"name": "Gold sale", "channel": "sms", "provider": "flaky",
                                  "audience_id": everyone["id"], "template_id": template["id"]}, key=key).json
    drain()

    shown = api.get(f"/v1/tasks/{task['id']}", key=key).json
    equation = shown["reconciliation"]
    assert equation["targeted"] == 5000 and equation["pending"] == 0
    assert equation["sent"] + equation["dropped"] + equation["failed"] == 5000
    assert 300 < equation["failed"] < 700  # about 10 %
    failed_users, cursor = [], None  # as a client lists them: the task's failed messages, page by page
    while True:
        page = api.get(f"/v1/tasks/{task['id']}/messages?status=failed&limit=200" + (f"&cursor={cursor}" if cursor else ""),
                       key=key).json
        failed_users += [m["user_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    failed_users.sort()
    assert len(failed_users) == len(set(failed_users)) == equation["failed"]

    follow_up = api.post("/v1/audiences", {"name": "SMS failed", "visibility": "public", "source": {
        "type": "task_result", "task_id": task["id"], "statuses": ["failed"]}}, key=key).json
    drain()
    built = api.get(f"/v1/audiences/{follow_up['id']}", key=key).json
    assert built["status"] == "ready" and built["size"] == len(failed_users)
    members, cursor = [], None
    while True:
        page = api.get(f"/v1/audiences/{follow_up['id']}/members?limit=1000" + (f"&cursor={cursor}" if cursor else ""),
                       key=key).json
        members += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert members == failed_users

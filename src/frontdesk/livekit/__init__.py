"""The LiveKit front: frontdesk behind an operator's LiveKit server and LiveKit SIP.

    client     the one place LiveKit's API is opened and its errors mapped to ours
    calls      active_calls / sessions writes that several processes race for (once-only)
    sync       `frontdesk livekit sync`: the inbound trunk and the dispatch rule, idempotent
    job        one LiveKit job = one call: route, admit, refuse (hang up first) or start
    worker     `frontdesk livekit worker`: the AgentServer, heartbeat and reconciliation
    reconcile  frees the slots of calls LiveKit no longer has (crashed job processes)
    webhook    POST /livekit/webhook: LiveKit's own word that a call ended (second signal)

Must not: speak SIP or RTP (LiveKit SIP does), or decide limits (store.admission does).
"""

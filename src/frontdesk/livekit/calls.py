"""What the LiveKit front's parts share about a call: the SIP participant's attribute names.

Owns: the names livekit/sip gives a SIP participant's attributes and the room metadata key
of the call's session id; the job, the webhook and the reconciler read them, so they live
here and not with the job's framework imports. Closing a call's slot is SQL and lives in
`frontdesk.store.slots`.

Must not: talk to LiveKit or the database.
"""

from __future__ import annotations

# what the SIP participant's attributes are called (livekit/sip); the job, the webhook and
# the reconciler read them, so they live here and not with the job's framework imports
ATTR_CALLED = "sip.trunkPhoneNumber"
ATTR_CALLER = "sip.phoneNumber"
ATTR_CALL_ID_FULL = "sip.callIDFull"
ATTR_CALL_ID = "sip.callID"  # LiveKit's own id, used only when the full Call-ID is absent
SESSION_METADATA_KEY = "frontdesk_session"  # room metadata key of the call's session id

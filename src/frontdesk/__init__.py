"""frontdesk: a multi-tenant AI voice receptionist behind one SIP peer trunk."""

__version__ = "0.1.0"

"""Singer tap for HubSpot CRM associations."""

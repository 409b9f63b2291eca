"""The unified domain: records, ids, write inputs. Imports nothing of the gateway but errors."""

//! Offline reviewer commands (placeholder; being written).

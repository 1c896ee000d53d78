//! hive-server

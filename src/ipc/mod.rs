//! The Node.js-compatible IPC channel (see ../shared/NODE-IPC.md).

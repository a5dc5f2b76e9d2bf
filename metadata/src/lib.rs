//! Layer and mount metadata of a layer store, kept in one redb database and changed only through
//! transactions that commit whole or not at all.

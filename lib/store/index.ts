export { type IndexFunc, type Indexers, namespaceIndex, type ObjectRef, type Store, StoreWriter, UnknownIndexError } from './store.ts'

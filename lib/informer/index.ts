export { type InformerFactoryOptions, InformerFactory, type InformerOptions, type InformerTarget, InvalidInformerError, SharedInformer } from './informer.ts'
export { type InformerEvent, Subscription } from './subscription.ts'

// Oven's contract, for both sides: the shapes (shapes.ts) and the webhook signature (signature.ts).
export * from './shapes.ts';
export { signWebhook, verifyWebhook, type WebhookHeaders } from './signature.ts';

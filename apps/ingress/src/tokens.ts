/** Injection tokens of the ingress. */
export const INGRESS_OPTIONS = Symbol('INGRESS_OPTIONS');

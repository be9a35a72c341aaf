/** `doctor` (what is wrong between this machine and a registry) and `pullSecret` (its login as a Kubernetes Secret). */
export { doctor, doctorFailed, DEFAULT_DOCTOR_TIMEOUT_MS, type DoctorOptions, type DoctorReport } from './doctor.js';
export type { Check, CheckStatus } from './check.js';
export { pullSecret, secretJson, secretYaml, defaultSecretName, type PullSecret, type PullSecretOptions } from './pull-secret.js';

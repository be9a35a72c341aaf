/** Progress events emitted by pull, push and copy (the CLI draws them; scripts may listen). */
export type BlobState = 'exists' | 'mounted' | 'downloaded' | 'uploaded' | 'linked';

export type ProgressEvent =
  | { type: 'resolved'; ref: string; digest: string; mediaType: string }
  | { type: 'blob-start'; digest: string; size: number; kind: 'layer' | 'config' }
  | { type: 'blob-progress'; digest: string; bytes: number; size: number }
  | { type: 'blob-done'; digest: string; size: number; state: BlobState; kind: 'layer' | 'config' }
  | { type: 'blob-retry'; digest: string; offset: number; reason: string }
  | { type: 'manifest'; digest: string; mediaType: string; platform?: string }
  | { type: 'note'; message: string };

export type ProgressListener = (e: ProgressEvent) => void;

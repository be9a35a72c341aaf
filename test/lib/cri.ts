// A minimal CRI image-service client for tests (crictl is not packaged in Debian): the few
// runtime.v1 messages ImageStatus and ListImages need, written down from the CRI API's field
// numbers (k8s.io/cri-api, pkg/apis/runtime/v1/api.proto), spoken with grpc-js over containerd's socket.
import grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** The wire contract used here: message → field → [number, type, rule]. */
export const CRI_FIELDS: Record<string, Record<string, [number, string, ('repeated' | 'map')?]>> = {
  ImageSpec: { image: [1, 'string'], annotations: [2, 'string', 'map'] },
  ImageFilter: { image: [1, 'ImageSpec'] },
  ListImagesRequest: { filter: [1, 'ImageFilter'] },
  Int64Value: { value: [1, 'int64'] },
  Image: {
    id: [1, 'string'],
    repoTags: [2, 'string', 'repeated'],
    repoDigests: [3, 'string', 'repeated'],
    size: [4, 'uint64'],
    uid: [5, 'Int64Value'],
    username: [6, 'string'],
    spec: [7, 'ImageSpec'],
  },
  ListImagesResponse: { images: [1, 'Image', 'repeated'] },
  ImageStatusRequest: { image: [1, 'ImageSpec'], verbose: [2, 'bool'] },
  ImageStatusResponse: { image: [1, 'Image'], info: [2, 'string', 'map'] },
};

function root(): protobuf.Root {
  const r = new protobuf.Root();
  const ns = r.define('runtime.v1');
  for (const [name, fields] of Object.entries(CRI_FIELDS)) {
    const t = new protobuf.Type(name);
    for (const [f, [id, type, rule]] of Object.entries(fields)) {
      t.add(rule === 'map' ? new protobuf.MapField(f, id, 'string', type) : new protobuf.Field(f, id, type, rule === 'repeated' ? 'repeated' : undefined));
    }
    ns.add(t);
  }
  r.resolveAll();
  return r;
}

export interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

export class CriImages {
  private readonly client: grpc.Client;
  private readonly r = root();

  constructor(socket: string) {
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'localhost' });
  }

  private call(method: string, req: string, res: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const reqT = this.r.lookupType(`runtime.v1.${req}`);
    const resT = this.r.lookupType(`runtime.v1.${res}`);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/runtime.v1.ImageService/${method}`,
        (m: Record<string, unknown>) => Buffer.from(reqT.encode(reqT.fromObject(m)).finish()),
        (b: Buffer) => resT.toObject(resT.decode(b), { longs: Number, defaults: true, arrays: true }) as Record<string, unknown>,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + 30_000 },
        (err, value) => (err ? reject(err) : resolve(value as Record<string, unknown>)),
      );
    });
  }

  async list(): Promise<CriImage[]> {
    const r = await this.call('ListImages', 'ListImagesRequest', 'ListImagesResponse', {});
    return (r.images as CriImage[]) ?? [];
  }

  /** undefined when the CRI plugin does not know the image. */
  async status(image: string): Promise<CriImage | undefined> {
    const r = await this.call('ImageStatus', 'ImageStatusRequest', 'ImageStatusResponse', { image: { image } });
    const i = r.image as CriImage | null | undefined;
    return i && i.id ? i : undefined;
  }

  close(): void {
    this.client.close();
  }
}

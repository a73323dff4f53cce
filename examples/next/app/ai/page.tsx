import { AiChat } from '../../components/ai-chat';

export const metadata = { title: 'ssekit: the AI SDK useChat, resumable' };

export default function Page() {
  return <AiChat />;
}
